"""The `bicpl` command line (`cli`) and its commands: `demo`, `experiments`, `push`. They use the layers below;
nothing in the package imports them."""
