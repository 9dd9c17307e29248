"""Training logs in, loss spikes and curve diagnoses out.

``read_logs(paths)`` reads any supported log into one long table ``run, step, metric, value, wall_time``;
``detect_spikes(steps, values)`` finds spikes in one series; ``analyze_table(table)`` diagnoses every run
(divergence, plateaus, restarts, overfitting, spikes shared across runs) and returns the data a report is
made of. The job that reads, diagnoses and publishes a report is ``dataaudit.api.analyze_spikes``.
"""

from .analysis import EVAL_ALIASES, GRAD_ALIASES, LOSS_ALIASES, SEVERITY, analyze_table, severity_at_least, write_tables
from .diagnose import DiagnoseConfig
from .readers import FORMATS, detect_format, read_logs
from .spikes import SpikeConfig, detect_spikes, score_series
from .table import LOG_SCHEMA, log_metadata

__all__ = ["analyze_table", "write_tables", "SEVERITY", "read_logs", "detect_spikes", "score_series", "detect_format", "log_metadata",
           "severity_at_least", "SpikeConfig", "DiagnoseConfig", "FORMATS", "LOG_SCHEMA", "LOSS_ALIASES",
           "GRAD_ALIASES", "EVAL_ALIASES"]
