module example.com/oma/hack/tools/node/pause

go 1.26.0
