//! `tollgate rehearse`: a runbook run against stand-ins started in process, touching nothing
//! real. What the rehearsal runs ([`prepare`]), the faults it injects ([`inject`]), the stand-ins
//! it starts ([`world`]), the git repositories it serves ([`repos`]) and the environment of its
//! shell steps ([`env`]); the decisions file
//! that scripts it ([`decisions`]). Imported only by the command line.

pub mod decisions;
pub mod env;
pub mod external_secrets;
pub mod inject;
pub mod prepare;
pub mod repos;
pub mod world;
