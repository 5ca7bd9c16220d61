# plot.gp: the plots of benchmarks/run (gnuplot 5).
#
#   gnuplot -e "mode='size'; data='x.dat'; titles='a b'; out='x.png'; \
#               ttl='bench: metric vs size'; ylab='metric'" benchmarks/plot.gp
#
# data holds one block per series (two blank lines apart), titles names them
# in order. Columns of a block:
#   mode 'size':   size  value  baseline    (log-log, baseline dashed)
#   mode 'strong': workers  speedup  efficiency   (with the ideal y = p)
#   mode 'weak':   workers  speedup  efficiency   (efficiency, ideal 1)
#   mode 'ratio':  size  ratio                   (log x; the parity line 1)
if (!exists("mode")) mode = 'size'
if (!exists("titles")) titles = ''
if (!exists("ttl")) ttl = ''
if (!exists("ylab")) ylab = ''

set terminal pngcairo size 900,600 noenhanced font ",11"
set output out
set title ttl
set grid
set key left top
set style data linespoints
n = words(titles)
if (n < 1) n = 1

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
  set logscale xy 2
  set format x "%.0s%c"
  set xlabel 'size (bytes or elements)'
  set ylabel ylab
  plot for [i = 0:n - 1] data index i using 1:2 lw 2 pt 7 lc i + 1 title word(titles, i + 1), \
       for [i = 0:n - 1] data index i using 1:3 dt 2 lw 1 pt 6 lc i + 1 title word(titles, i + 1).' baseline'
} else {
  if (mode eq 'strong') {
    set xlabel 'workers x ranks'
    set ylabel 'speedup'
    set logscale xy 2
    set xrange [0.8:*]
    plot for [i = 0:n - 1] data index i using 1:2 lw 2 pt 7 lc i + 1 title word(titles, i + 1), \
         x with lines dt 3 lc rgb 'black' title 'ideal'
  } else {
    set xlabel 'workers x ranks'
    set ylabel 'efficiency (1 = ideal)'
    set logscale x 2
    set xrange [0.8:*]
    set yrange [0:1.2]
    plot for [i = 0:n - 1] data index i using 1:3 lw 2 pt 7 title word(titles, i + 1), \
         1 with lines dt 3 lc rgb 'black' title 'ideal'
  }
}
}
