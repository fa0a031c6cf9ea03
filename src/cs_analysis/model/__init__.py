"""The churn-risk model: point-in-time features and labels (:mod:`.features`), candidate
pipelines, backtests and metrics (:mod:`.pipelines`), training and scoring a dataset
(:mod:`.training`), drivers in words (:mod:`.drivers`), single tables (:mod:`.table`) and skops
persistence (:mod:`.persistence`). scikit-learn is imported by the modules that need it, not
here, so reading a model's metadata stays light."""
