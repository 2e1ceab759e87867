//! Work in progress (issue for the azure provider).
