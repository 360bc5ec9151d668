"""The `diffgen demo` run: its plan, its stages in order, its report and the stand-in
networks it uses when no pretrained weights are installed."""
