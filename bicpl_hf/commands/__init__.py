"""The `bicpl` command line, the demo and publishing: imports the layers above, imported by none."""
