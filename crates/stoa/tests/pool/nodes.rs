//! Nodes of one pool: cross-node delivery, node loss, active servers and pool state.
