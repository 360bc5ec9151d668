"""Binary masks: the operations on them and the undoable, crash-safe editing session."""
