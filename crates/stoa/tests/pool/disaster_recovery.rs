//! Disaster recovery: a node follows a promoted standby (to be written).
