//! Work in progress (issue for the aws provider).
