module mlkube.local/cluster-smoke

go 1.24
