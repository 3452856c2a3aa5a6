"""The ``inpaintscope`` command: a thin layer over the library.

Subcommands live in their own modules and are imported only when used, so ``--help`` and
quick commands start fast (torch is not imported until a command needs it). The group applies
the one error convention of :mod:`.common` to every subcommand: ``error: <one line>``, exit 2.
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from .common import user_errors

# name -> "module:attribute"; each module holds one click command or group.
SUBCOMMANDS: dict[str, str] = {
    "dataset": "inpaintscope.cli.dataset:dataset",
    "train": "inpaintscope.cli.train:train",
    "evaluate": "inpaintscope.cli.evaluate:evaluate",
    "calibrate": "inpaintscope.cli.calibrate:calibrate",
    "detect": "inpaintscope.cli.detect:detect",
    "models": "inpaintscope.cli.models:models",
    "demo": "inpaintscope.cli.demo:demo",
    "inpainter": "inpaintscope.cli.inpainter:inpainter",
    "serve": "inpaintscope.cli.serve:serve",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._load(name)

    def invoke(self, ctx: click.Context) -> object:
        with user_errors():  # every subcommand: library errors become one line and exit code 2
            return super().invoke(ctx)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="inpaintscope")
def cli() -> None:
    """inpaintscope: was this photo inpainted, and where?

    Build inpainting-forensics datasets, train and evaluate detectors, and run detection
    on images and folders. Run `inpaintscope COMMAND --help` for each command.
    """


#: click >= 8.2 raises it (a UsageError) for a group run without arguments; older click prints help itself
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main(argv: list[str] | None = None) -> None:
    """Console entry point: click's and the commands' errors as one line (see :mod:`.common`),
    Ctrl-C as exit code 130, a closed output pipe as success."""
    try:
        cli.main(args=argv, prog_name="inpaintscope", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except _NO_ARGS_IS_HELP as e:  # `inpaintscope` alone: the help, not an error
        e.show()
        sys.exit(e.exit_code)
    except click.UsageError as e:
        # click prints usage, a hint and the error over four lines; the convention is one
        where = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        click.echo(f"error: {' '.join(e.format_message().split())}{where}", err=True)
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
