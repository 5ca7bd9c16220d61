# SPDX-License-Identifier: BSD-3-Clause
# roofline.gp: the roofline plot of benchmarks/run --roofline (gnuplot 5).
#
#   gnuplot -e "data='r.dat'; out='r.png'; bw=9.5; peak=29; bw1=9.7; \
#               peak1=30; ttl='...'" benchmarks/roofline.gp
#
# bw, peak: all cores' measured bandwidth (GB/s) and FMA peak (GFlop/s);
# bw1, peak1: one core's. data: one line per kernel and size:
#   label  flops/byte  baton-GFlop/s  baseline-GFlop/s
# Log-log; the roofs min(peak, AI * bw) solid (all cores) and dashed (one).
if (!exists("ttl")) ttl = 'roofline'
set terminal pngcairo size 1000,700 noenhanced font ",11"
set output out
set title ttl
set logscale xy 10
set grid
set key left top
set xlabel 'arithmetic intensity (flop / byte moved at least)'
set ylabel 'GFlop/s'
set xrange [0.01:1000]
set samples 400
roof(x, b, p) = (x * b < p) ? x * b : p
set label 1 sprintf('all cores: %.1f GB/s, %.1f GFlop/s', bw, peak) at graph 0.55, 0.08
set label 2 sprintf('one core: %.1f GB/s, %.1f GFlop/s', bw1, peak1) at graph 0.55, 0.04
plot roof(x, bw, peak) with lines lw 3 lc rgb 'black' title 'roof, all cores', \
     roof(x, bw1, peak1) with lines lw 1 dt 2 lc rgb 'gray40' title 'roof, one core', \
     data using 2:3 with points pt 7 ps 1.6 lc rgb 'blue' title 'baton', \
     data using 2:4 with points pt 6 ps 1.6 lc rgb 'red' title 'baseline (-march=native)', \
     data using 2:3:1 with labels offset 1.2,0.6 left font ',9' notitle
