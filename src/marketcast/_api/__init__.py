"""The parts of :mod:`marketcast.api` (its public names are exported there)."""
