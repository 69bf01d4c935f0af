//! basalt-codecs (being built)
