//! An in-process driver for workflows (filled in below).
