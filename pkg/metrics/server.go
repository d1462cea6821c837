package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/klog/v2"
)

// Handler serves the registry in Prometheus' text and protobuf formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      promErrorLog{},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
	})
}

// Serve listens on addr and serves /metrics until ctx ends. It returns
// once it listens, with the address it listens on (addr may ask for port
// 0), or with the error that kept it from listening.
func (m *Metrics) Serve(ctx context.Context, addr string) (net.Addr, error) {
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.ErrorS(err, "Metrics endpoint stopped")
		}
	}()
	context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
	})
	return lis.Addr(), nil
}

// promErrorLog sends the handler's collection errors to klog.
type promErrorLog struct{}

func (promErrorLog) Println(v ...any) {
	klog.ErrorS(nil, "Metrics collection", "error", fmt.Sprint(v...))
}
