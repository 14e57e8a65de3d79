package importer

// AlmaLinuxHead is the head written for an AlmaLinux import when the
// operator gives none: AlmaLinux's origin, its TIME stamp (a unix time at
// the root of every mirror, which AlmaLinux's own service checks), and
// BaseOS and AppStream of the current releases. Copy it into a file, edit
// it and pass it with --head to change anything.
var AlmaLinuxHead = Head{Name: "built-in AlmaLinux head", Text: `[network]
name    = "AlmaLinux"
origin  = "https://repo.almalinux.org/almalinux/"
stamp   = "TIME"
max_lag = "24h"

[[repo]]
name     = "baseos"
path     = "{release}/BaseOS/{arch}/os/"
releases = ["9", "10"]
archs    = ["x86_64", "aarch64"]
format   = "rpm"

[[repo]]
name     = "appstream"
path     = "{release}/AppStream/{arch}/os/"
releases = ["9", "10"]
archs    = ["x86_64", "aarch64"]
format   = "rpm"
`}
