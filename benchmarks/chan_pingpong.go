// SPDX-License-Identifier: BSD-3-Clause
// chan_pingpong.go: the Go baseline of bench_chan's capacity-0 ping-pong.
// Two goroutines (GOMAXPROCS 2, scheduled as Go schedules them) bounce an
// int64 over two unbuffered channels; prints the one-way latency in ns (the median of
// the repetitions, then the best, then the median over the repetitions of the 10th
// percentile of 32-trip batches, as bench_chan measures it) as
// "go_unbuffered_ns <median> <best> <batch p10>".
//
//   chan_pingpong [trips] [reps]      (defaults 200000, 5)
//
// Built by CMake when `go` is installed (standard library only, nothing
// fetched), run by bench_chan, which prints the RESULT line.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"
)

const batch = 32

// pingpong returns the one-way latency of the whole timed run and the 10th
// percentile of its 32-trip batches.
func pingpong(trips int) (float64, float64) {
	ab := make(chan int64)
	ba := make(chan int64)
	done := make(chan struct{})
	go func() {
		for i := 0; i < trips; i++ {
			ba <- <-ab
		}
		close(done)
	}()
	warm := trips / 10
	for i := 0; i < warm; i++ {
		ab <- int64(i)
		<-ba
	}
	var batches []float64
	t0 := time.Now()
	tb := t0
	for i := warm; i < trips; i++ {
		ab <- int64(i)
		if <-ba != int64(i) {
			panic("wrong value")
		}
		if (i-warm+1)%batch == 0 {
			now := time.Now()
			batches = append(batches, float64(now.Sub(tb).Nanoseconds())/(2.0*batch))
			tb = now
		}
	}
	el := time.Since(t0)
	<-done
	p10 := 0.0
	if len(batches) > 0 {
		sort.Float64s(batches)
		p10 = batches[len(batches)/10]
	}
	return float64(el.Nanoseconds()) / (2.0 * float64(trips-warm)), p10
}

func main() {
	trips, reps := 200000, 5
	if len(os.Args) > 1 {
		trips, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		reps, _ = strconv.Atoi(os.Args[2])
	}
	if trips < 10 || reps < 1 {
		fmt.Fprintln(os.Stderr, "chan_pingpong: bad arguments")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(2)
	v := make([]float64, reps)
	p := make([]float64, reps)
	for r := range v {
		v[r], p[r] = pingpong(trips)
	}
	sort.Float64s(v)
	sort.Float64s(p)
	fmt.Printf("go_unbuffered_ns %.1f %.1f %.1f\n", v[reps/2], v[0], p[reps/2])
}
