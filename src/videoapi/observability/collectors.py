"""Scrape-time collectors of host readings: free disk space and, through NVML, GPU memory and load.

They read the host when Prometheus scrapes, so a reading is never stale, and a failing reading
drops its series instead of failing the scrape. `install_collectors(settings)` registers them on
REGISTRY once per process; a later call (tests build several apps) replaces the earlier ones.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from videoapi.observability.logging import get_logger
from videoapi.observability.metrics import REGISTRY
from videoapi.settings import Settings

log = get_logger(__name__)

_lock = threading.Lock()
_installed: list[Collector] = []


def install_collectors(settings: Settings) -> None:
    """Register the disk and GPU collectors for this process's settings, replacing earlier ones."""
    with _lock:
        for old in _installed:
            REGISTRY.unregister(old)
        _installed[:] = [DiskCollector([settings.var_path, settings.work_dir]), GpuCollector()]
        for collector in _installed:
            REGISTRY.register(collector)


class DiskCollector(Collector):
    """`videoapi_disk_free_bytes` and `videoapi_disk_total_bytes` of the filesystems holding `paths`."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(dict.fromkeys(paths))

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        free, total = self._families()
        for path in self.paths:
            try:
                usage = shutil.disk_usage(_existing(path))
            except OSError as exc:
                log.debug("disk_usage_failed", path=str(path), error=str(exc))
                continue
            # `free` is what an unprivileged process may still write (blocks reserved for root excluded).
            free.add_metric([str(path)], usage.free)
            total.add_metric([str(path)], usage.total)
        yield free
        yield total

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "videoapi_disk_free_bytes", "Bytes free for the service on the filesystem of a path", labels=["path"]
            ),
            GaugeMetricFamily("videoapi_disk_total_bytes", "Size of the filesystem of a path", labels=["path"]),
        )


def _existing(path: Path) -> Path:
    """The path, or its nearest existing parent: a directory made on first use (the work dir) lives
    on the filesystem of its parent."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return path


class GpuCollector(Collector):
    """GPU memory and utilisation of every device NVML sees (module `pynvml` of nvidia-ml-py).

    Without a driver (or the module) NVML cannot start: the collector then yields nothing, logs
    that once at debug level and does not try again; the process has no GPU.
    """

    def __init__(self) -> None:
        self._nvml: ModuleType | None = None
        self._unavailable = False
        self._lock = threading.Lock()

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        nvml = self._start()
        if nvml is None:
            return
        used, total, utilisation = self._families()
        try:
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as exc:
            log.debug("nvml_device_count_failed", error=str(exc))
            return
        for index in range(count):
            self._read_device(nvml, index, used, total, utilisation)
        yield used
        yield total
        yield utilisation

    def _start(self) -> ModuleType | None:
        with self._lock:
            if self._nvml is not None or self._unavailable:
                return self._nvml
            try:
                import pynvml
            except ImportError as exc:
                return self._give_up(f"pynvml is not installed: {exc}")
            try:
                pynvml.nvmlInit()
            except pynvml.NVMLError as exc:
                return self._give_up(str(exc))
            self._nvml = pynvml
            return pynvml

    def _give_up(self, why: str) -> None:
        self._unavailable = True
        log.debug("nvml_unavailable", error=why)

    @staticmethod
    def _read_device(
        nvml: Any, index: int, used: GaugeMetricFamily, total: GaugeMetricFamily, utilisation: GaugeMetricFamily
    ) -> None:
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(handle)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        except nvml.NVMLError as exc:  # e.g. a device that fell off the bus: drop its series only
            log.debug("nvml_device_failed", gpu=index, error=str(exc))
            return
        labels = [str(index), name.decode() if isinstance(name, bytes) else str(name)]
        used.add_metric(labels, memory.used)
        total.add_metric(labels, memory.total)
        try:
            rates = nvml.nvmlDeviceGetUtilizationRates(handle)
        except nvml.NVMLError as exc:  # not supported on MIG instances; memory is still worth reporting
            log.debug("nvml_utilisation_failed", gpu=index, error=str(exc))
            return
        utilisation.add_metric(labels, rates.gpu / 100)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        labels = ["gpu", "name"]
        return (
            GaugeMetricFamily("videoapi_gpu_memory_used_bytes", "GPU memory in use (all processes)", labels=labels),
            GaugeMetricFamily("videoapi_gpu_memory_total_bytes", "GPU memory installed", labels=labels),
            GaugeMetricFamily(
                "videoapi_gpu_utilization_ratio",
                "Fraction of the last sample period in which a kernel ran on the GPU (0..1)",
                labels=labels,
            ),
        )
