"""debris: find spacecraft landing hardware in Mars flight imagery.

    from debris import Detector
    detections = Detector.load().predict("frame.jpg")

`Detector` is imported on first use (PEP 562 module `__getattr__`), so `import debris` and the
commands that never run the network (`debris --help`, `info`, `check`, `convert`) do not pay for
importing torch.
"""

__version__ = "0.1.0"
__all__ = ["Detector", "__version__"]


def __getattr__(name: str):
    if name == "Detector":
        from debris.infer.detector import Detector

        return Detector
    raise AttributeError(f"module 'debris' has no attribute {name!r}")
