# Written by bench-migrate: qmig's pre-copy rounds in scenario 1-idle.
# gnuplot 1-idle.gp (in this directory) writes 1-idle-rounds.svg.
set terminal svg size 900,640 dynamic font 'sans,11'
set output '1-idle-rounds.svg'
set multiplot layout 2,1 title "1-idle: qmig's pre-copy rounds, one line per repetition"
set key top right
set grid
set xlabel 'round'
set xtics 1
set xrange [-0.5:*]
set yrange [0:*]
set y2range [0:*]
set ylabel 'MB sent in the round'
set y2label 'dirty pages found (thousands)'
set y2tics
set ytics nomirror
plot for [i=0:2] '1-idle.rounds.tsv' index i using 2:($4/1e6) with linespoints lw 2 title sprintf('MB sent, rep %d', i+1), \
     for [i=0:2] '' index i using 2:($5/1e3) axes x1y2 with linespoints dt 2 title sprintf('dirty pages, rep %d', i+1)
unset y2label
unset y2tics
set ytics mirror
set ylabel 'ms'
plot for [i=0:2] '1-idle.rounds.tsv' index i using 2:7 with linespoints lw 2 title sprintf('predicted downtime, rep %d', i+1), 300 with lines dt 3 lc rgb 'red' title 'max\_downtime\_ms'
unset multiplot
