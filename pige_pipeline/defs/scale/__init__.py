"""Scale-out wiring: the executor of every asset job, and step outputs kept on the shared data root."""
