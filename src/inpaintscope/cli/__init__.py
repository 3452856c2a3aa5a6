"""The ``inpaintscope`` command line (see :mod:`.main`); one module per subcommand."""
