"""Import topokit before any test module imports torch, so its numerical pins are in force
(topokit.reproducibility) as they are for a user who imports topokit first."""
import topokit  # noqa: F401
