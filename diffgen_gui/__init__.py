"""DiffGen Studio desktop app (PySide6): views and commands over the back end. No maths here."""
