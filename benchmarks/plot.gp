# SPDX-License-Identifier: BSD-3-Clause
# plot.gp: the plots of benchmarks/run (gnuplot 5.4).
#
#   gnuplot -e "mode='size'; data='x.dat'; titles='a b'; out='x.png'; \
#               ttl='bench: metric vs size'; ylab='metric'; \
#               meta='x.meta.gp'" benchmarks/plot.gp
#
# data holds one block per series (two blank lines apart), titles names them
# in order. Columns of a block:
#   mode 'size':   size  value  baseline    (log-log, baseline dashed)
#   mode 'strong': workers  speedup  efficiency   (with the ideal y = p)
#   mode 'weak':   workers  speedup  efficiency   (efficiency, ideal 1)
#   mode 'ratio':  size  ratio                   (log x; the parity line 1)
# meta, when given, is a gnuplot file benchmarks/run writes that may set:
#   T[i], B[i]  the title of series i and the name of its baseline
#   ylab        the axis title with its unit and "higher/lower is better"
#   xlab, xkind the size axis' title; xkind 'bytes' (ticks 1 KiB, 1 MiB)
#               or 'count' (1k, 1M)
#   stamp       machine, CPU, compiler, build type, commit, date, quick flag
if (!exists("mode")) mode = 'size'
if (!exists("titles")) titles = ''
if (!exists("ttl")) ttl = ''
if (!exists("ylab")) ylab = ''
xlab = 'size (bytes or elements)'
xkind = 'count'
stamp = ''
n = words(titles)
if (n < 1) n = 1
array T[n]
array B[n]
do for [i = 1:n] { T[i] = word(titles, i); B[i] = 'baseline' }
if (exists("meta")) { load meta }

set terminal pngcairo size 1000,700 noenhanced font ",11"
set output out
set title ttl
set grid xtics ytics mxtics mytics lw 0.5 lc rgb '#dddddd'
set key outside below horizontal maxrows 4 box opaque
set style data linespoints
set tmargin 5
set bmargin 8
if (strlen(stamp) > 0) {
  set label 1 stamp at screen 0.5, screen 0.975 center font ",9" tc rgb '#444444'
}
# Binary-prefixed byte ticks at every power of 4: 1 B, 4 B, ..., 1 KiB, 4 KiB.
bytes_tick(k) = k < 10 ? sprintf("%d B", 2**k) : k < 20 ? sprintf("%d KiB", 2**(k - 10)) : \
                k < 30 ? sprintf("%d MiB", 2**(k - 20)) : sprintf("%d GiB", 2**(k - 30))

if (mode eq 'ratio') {
  set logscale x 10
  set format x "%.0s%c"
  set xlabel 'size (elements)'
  set ylabel 'ratio to the baseline (above 1: baton faster)'
  set yrange [0:*]
  plot for [i = 0:n - 1] data index i using 1:2 lw 2 pt 7 lc i + 1 title word(titles, i + 1), \
       1 with lines dt 3 lc rgb 'black' title 'parity', \
       0.9 with lines dt 2 lc rgb 'gray' title '0.9'
} else {
if (mode eq 'size') {
  if (xkind eq 'bytes') {
    set logscale x 2
    set xtics ()
    do for [k = 0:40:2] { set xtics add (bytes_tick(k) 2.0**k) }
    set mxtics default
  } else {
    set logscale x 10
    set format x "%.0s%c"
  }
  set logscale y 10
  set format y "%.0s %c"
  set xlabel xlab
  set ylabel ylab
  # baton solid with filled points; its baseline dashed with open points
  # of the same colour, slightly thinner, so neither hides the other.
  plot for [i = 0:n - 1] data index i using 1:2 lw 2.5 pt 7 ps 1.2 lc i + 1 \
         title 'baton '.T[i + 1], \
       for [i = 0:n - 1] data index i using 1:3 dt 2 lw 1.5 pt 6 ps 1.6 \
         lc i + 1 title T[i + 1].' baseline: '.B[i + 1]
} else {
  if (mode eq 'strong') {
    set xlabel 'cores used (workers x ranks)'
    set ylabel 'speedup over the smallest run (higher is better)'
    set logscale xy 2
    set xrange [0.8:*]
    plot for [i = 0:n - 1] data index i using 1:2 lw 2 pt 7 lc i + 1 title T[i + 1], \
         x with lines dt 3 lc rgb 'black' title 'ideal (linear)'
  } else {
    set xlabel 'cores used (workers x ranks)'
    set ylabel 'efficiency, 1 = ideal (higher is better)'
    set logscale x 2
    set xrange [0.8:*]
    set yrange [0:1.2]
    plot for [i = 0:n - 1] data index i using 1:3 lw 2 pt 7 title T[i + 1], \
         1 with lines dt 3 lc rgb 'black' title 'ideal'
  }
}
}
