"""The processes of a run: one, or the group ``torchrun`` describes (DistributedDataParallel)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Processes:
    """This process's place among the run's processes; rank 0 (``main``) writes the files."""

    rank: int = 0
    world: int = 1
    #: this process created the process group, so it also destroys it
    initialised_here: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` summed over all processes (in place; unchanged with one process)."""
        if self.world > 1:
            dist.all_reduce(values)
        return values

    def gather(self, obj: object) -> list[object]:
        """``obj`` of every process, in rank order (pickled through the group)."""
        if self.world == 1:
            return [obj]
        gathered: list[object] = [None] * self.world
        dist.all_gather_object(gathered, obj)
        return gathered

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every process when ``flag`` is true on any of them (so all stop together)."""
        if self.world == 1:
            return flag
        value = torch.tensor([float(flag)], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def close(self) -> None:
        """Wait until rank 0's files are complete, then leave the group if this process made it."""
        if self.world > 1:
            dist.barrier()
            if self.initialised_here:
                dist.destroy_process_group()


def launched_as_main() -> bool:
    """Whether this process is rank 0 of a torchrun launch (or was not launched by torchrun),
    known from the environment before any process group exists."""
    return int(os.environ.get("RANK", "0")) == 0


def setup_distributed(device: torch.device) -> tuple[Processes, torch.device]:
    """Join the process group torchrun describes (WORLD_SIZE/RANK/LOCAL_RANK), if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Processes(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    here = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        here = True
    return Processes(dist.get_rank(), dist.get_world_size(), here), device
