//! Local-dev token refresh (work in progress).
