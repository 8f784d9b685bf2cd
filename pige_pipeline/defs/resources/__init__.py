"""The resources every asset, sensor and job asks for, bound once for the code location."""
