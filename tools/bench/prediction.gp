# qmig's predicted stop-and-copy downtime (the gate's last prediction)
# against the downtime it then measured, every correct qmig run of every
# scenario. run-scenarios concatenates the scenarios' NAME.runs.tsv into
# all-runs.tsv and runs this in the output directory.
set terminal svg size 860,620 dynamic font 'sans,11'
set output 'downtime-prediction.svg'
set title "qmig: predicted vs measured downtime, one point per run"
set xlabel 'measured downtime (ms)'
set ylabel 'predicted downtime (ms)'
set grid
set key outside right top
set datafile separator "\t"
qmig(c) = (strcol(2) eq 'qmig' && $5 == 1) ? column(c) : 1/0
stats 'all-runs.tsv' using (qmig(7)) nooutput
top = STATS_max * 1.15
stats 'all-runs.tsv' using (qmig(8)) nooutput
top = (STATS_max * 1.15 > top) ? STATS_max * 1.15 : top
set xrange [0:top]
set yrange [0:top]
set size square
# Column 2 method, 5 correct, 1 scenario; 7 downtime, 8 predicted.
scen = system("awk -F'\t' '!/^#/ && $2 == \"qmig\" && $5 == 1 { print $1 }' all-runs.tsv | sort -u | tr '\\n' ' '")
plot for [s in scen] 'all-runs.tsv' using \
	(strcol(2) eq 'qmig' && $5 == 1 && strcol(1) eq s ? $7 : 1/0):8 \
	with points pt 7 ps 1 title s, \
     x with lines lc rgb 'black' dt 2 title 'exact', \
     x * 1.15 with lines lc rgb 'gray' dt 3 title '±15%', \
     x * 0.85 with lines lc rgb 'gray' dt 3 notitle
