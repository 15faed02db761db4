# perl: regexes, hashes, sort, sprintf, local $_, file I/O in /tmp, sprintf of floats,
# here-docs, closures, string repetition, pack/unpack, sort numerically, wantarray.
use strict; use warnings;
my %h = (apple => 3, banana => 1, cherry => 2);
print join(",", map { "$_=$h{$_}" } sort { $h{$a} <=> $h{$b} } keys %h), "\n";
my $s = "The quick brown fox jumps over the lazy dog";
my @w = ($s =~ /\b(\w{5})\b/g);
print "five-letter: @w\n";
(my $t = $s) =~ s/(\w+)/\u$1/g;
print "$t\n";
printf("%.3f %5s|%-5s| %03d %x %o %e\n", 3.14159, "r", "l", 7, 255, 8, 12345.678);
my $file = "/tmp/perl-test-$$.txt";
open(my $fh, ">", $file) or die "open: $!";
print $fh "$_\n" for 1 .. 100;
close $fh;
open($fh, "<", $file) or die;
my $sum = 0; while (<$fh>) { chomp; $sum += $_ } close $fh;
print "sum $sum size ", -s $file, "\n";
unlink $file; print "gone: ", (-e $file ? "no" : "yes"), "\n";
my @sorted = sort { $a <=> $b } (10, 9, 100, 1, 55);
print "@sorted\n";
my $mk = sub { my $n = shift; sub { $n++ } }; my $c = $mk->(5); $c->(); print $c->(), "\n";
print "ab" x 3, " ", join("-", ("x") x 3), "\n";
print join(",", unpack("A3 n C", pack("A3 n C", "abcdef", 258, 65))), "\n";
print <<"END";
heredoc with $h{apple} apples
END
my @parts = split /,\s*/, "a, b,c ,  d";
print scalar(@parts), ":", join("|", @parts), "\n";
print "pid-ok\n" if $$ > 0;
my $out = `echo from-a-child`; print "backticks: $out";
system("sh", "-c", "exit 3"); print "system status: ", $? >> 8, "\n";
