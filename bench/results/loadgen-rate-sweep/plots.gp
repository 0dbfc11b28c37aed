# gqa-loadgen plots; redraw with: gnuplot plots.gp
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 960,600 noenhanced
} else {
  set terminal png size 960,600 noenhanced
}
set grid
set key bottom right
set output 'bench/results/loadgen-rate-sweep/ttft_cdf.png'
set title 'CDF of time to first token (ms)'
set xlabel 'time to first token (ms)'
set ylabel 'fraction of requests'
set yrange [0:1]
plot 'bench/results/loadgen-rate-sweep/ttft_0.dat' using 1:2 with steps lw 2 title 'rate 0.25', \
     'bench/results/loadgen-rate-sweep/ttft_1.dat' using 1:2 with steps lw 2 title 'rate 0.5', \
     'bench/results/loadgen-rate-sweep/ttft_2.dat' using 1:2 with steps lw 2 title 'rate 1', \
     'bench/results/loadgen-rate-sweep/ttft_3.dat' using 1:2 with steps lw 2 title 'rate 2'
set output 'bench/results/loadgen-rate-sweep/tpot_cdf.png'
set title 'CDF of time per output token (ms)'
set xlabel 'time per output token (ms)'
set ylabel 'fraction of requests'
set yrange [0:1]
plot 'bench/results/loadgen-rate-sweep/tpot_0.dat' using 1:2 with steps lw 2 title 'rate 0.25', \
     'bench/results/loadgen-rate-sweep/tpot_1.dat' using 1:2 with steps lw 2 title 'rate 0.5', \
     'bench/results/loadgen-rate-sweep/tpot_2.dat' using 1:2 with steps lw 2 title 'rate 1', \
     'bench/results/loadgen-rate-sweep/tpot_3.dat' using 1:2 with steps lw 2 title 'rate 2'
set output 'bench/results/loadgen-rate-sweep/itl_cdf.png'
set title 'CDF of inter-token latency (ms)'
set xlabel 'inter-token latency (ms)'
set ylabel 'fraction of requests'
set yrange [0:1]
plot 'bench/results/loadgen-rate-sweep/itl_0.dat' using 1:2 with steps lw 2 title 'rate 0.25', \
     'bench/results/loadgen-rate-sweep/itl_1.dat' using 1:2 with steps lw 2 title 'rate 0.5', \
     'bench/results/loadgen-rate-sweep/itl_2.dat' using 1:2 with steps lw 2 title 'rate 1', \
     'bench/results/loadgen-rate-sweep/itl_3.dat' using 1:2 with steps lw 2 title 'rate 2'
set output 'bench/results/loadgen-rate-sweep/e2e_cdf.png'
set title 'CDF of end-to-end latency (ms)'
set xlabel 'end-to-end latency (ms)'
set ylabel 'fraction of requests'
set yrange [0:1]
plot 'bench/results/loadgen-rate-sweep/e2e_0.dat' using 1:2 with steps lw 2 title 'rate 0.25', \
     'bench/results/loadgen-rate-sweep/e2e_1.dat' using 1:2 with steps lw 2 title 'rate 0.5', \
     'bench/results/loadgen-rate-sweep/e2e_2.dat' using 1:2 with steps lw 2 title 'rate 1', \
     'bench/results/loadgen-rate-sweep/e2e_3.dat' using 1:2 with steps lw 2 title 'rate 2'
set output 'bench/results/loadgen-rate-sweep/throughput_ttft.png'
set title 'Throughput vs TTFT (ms) over the rate sweep'
set xlabel 'output tokens/s'
set ylabel 'TTFT (ms)'
set autoscale y
set key top left
plot 'bench/results/loadgen-rate-sweep/sweep.dat' using 3:4 with linespoints lw 2 pt 7 title 'p50', \
     'bench/results/loadgen-rate-sweep/sweep.dat' using 3:5 with linespoints lw 2 pt 5 title 'p99', \
     'bench/results/loadgen-rate-sweep/sweep.dat' using 3:4:(sprintf('%g', $1)) with labels offset 0,1 notitle
set output 'bench/results/loadgen-rate-sweep/throughput_tpot.png'
set title 'Throughput vs TPOT (ms) over the rate sweep'
set xlabel 'output tokens/s'
set ylabel 'TPOT (ms)'
set autoscale y
set key top left
plot 'bench/results/loadgen-rate-sweep/sweep.dat' using 3:6 with linespoints lw 2 pt 7 title 'p50', \
     'bench/results/loadgen-rate-sweep/sweep.dat' using 3:7 with linespoints lw 2 pt 5 title 'p99', \
     'bench/results/loadgen-rate-sweep/sweep.dat' using 3:6:(sprintf('%g', $1)) with labels offset 0,1 notitle
set output 'bench/results/loadgen-rate-sweep/throughput_e2e.png'
set title 'Throughput vs end-to-end latency (ms) over the rate sweep'
set xlabel 'output tokens/s'
set ylabel 'end-to-end latency (ms)'
set autoscale y
set key top left
plot 'bench/results/loadgen-rate-sweep/sweep.dat' using 3:8 with linespoints lw 2 pt 7 title 'p50', \
     'bench/results/loadgen-rate-sweep/sweep.dat' using 3:9 with linespoints lw 2 pt 5 title 'p99', \
     'bench/results/loadgen-rate-sweep/sweep.dat' using 3:8:(sprintf('%g', $1)) with labels offset 0,1 notitle
set output 'bench/results/loadgen-rate-sweep/offered_vs_achieved.png'
set title 'Achieved throughput'
set xlabel 'offered rate (requests/s)'
set ylabel 'requests/s'
set autoscale y
set key top left
plot 'bench/results/loadgen-rate-sweep/sweep.dat' using 1:2 with linespoints lw 2 pt 7 title 'achieved (successful) req/s'
