"""callprofile: place Telnyx AI calls from named, version-controlled YAML profiles.

The package is importable without click; the flow lives in :mod:`runner.flow.compose`
(compose once) and :mod:`runner.flow.request` (render per call).
"""

__version__ = "0.1.0"
