// SPDX-License-Identifier: BSD-3-Clause
// chan_pingpong.go: the Go baseline of bench_chan's capacity-0 ping-pong.
// Two goroutines (GOMAXPROCS 2, scheduled as Go schedules them) bounce an
// int64 over two unbuffered channels; prints the one-way latency in ns (the median of
// the repetitions, then the best) as "go_unbuffered_ns <median> <best>".
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

func pingpong(trips int) float64 {
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
	t0 := time.Now()
	for i := warm; i < trips; i++ {
		ab <- int64(i)
		if <-ba != int64(i) {
			panic("wrong value")
		}
	}
	el := time.Since(t0)
	<-done
	return float64(el.Nanoseconds()) / (2.0 * float64(trips-warm))
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
	for r := range v {
		v[r] = pingpong(trips)
	}
	sort.Float64s(v)
	fmt.Printf("go_unbuffered_ns %.1f %.1f\n", v[reps/2], v[0])
}
