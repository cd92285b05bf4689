module thyme.local/pause

go 1.22
