//! kubectl's JSONPath templates, the subset runbooks use.
