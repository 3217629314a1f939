// The processor as this process sees it.
#pragma once

namespace homelens {

// The cores this process may run on (its affinity mask: a launcher such as mpirun, Slurm,
// taskset or a container may allow fewer than the machine has); at least 1.
unsigned usable_cores();

}  // namespace homelens
