//! basalt-service-models (being built)
