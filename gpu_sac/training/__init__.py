"""The fused training program: `train` builds it from its makers (init, collect, learn, chunk) and
runs it chunk by chunk; `rollout` steps the vectorised envs with auto-reset; `mesh` lays a run out
over several devices; `memory` checks that the state fits before anything is allocated; `metrics`
names the figures a chunk reports."""
