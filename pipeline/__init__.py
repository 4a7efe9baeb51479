"""debris: find spacecraft landing hardware in Mars flight imagery."""

__version__ = "0.1.0"

from pipeline.predict import Detector  # noqa: E402  (the Python API: Detector.load().predict(frame))

__all__ = ["Detector", "__version__"]
