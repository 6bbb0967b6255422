// promcheck validates Prometheus rule files the way Prometheus loads them (rulefmt + the PromQL parser).
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

func main() {
	p := parser.NewParser(parser.Options{})
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	failed := false
	for _, path := range os.Args[1:] {
		_, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, p, logger)
		for _, err := range errs {
			fmt.Fprintf(os.Stderr, "%v\n", err)
			failed = true
		}
		if len(errs) == 0 {
			fmt.Printf("%s: ok\n", path)
		}
	}
	if failed {
		os.Exit(1)
	}
}
