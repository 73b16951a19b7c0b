# tests/integration/lib/find_secrets.pl - searches files for secret bytes in
# every form they could be written in.  Run by tpm_secrets.sh (not by the
# runner: it lives in lib/).
#
#   perl find_secrets.pl SECRETS FILE...
#
# SECRETS has one "<name> <hex>" per line.  Each secret is looked for as raw
# bytes, as hex (lower and upper case), and as base64 and base64url at each of
# the three alignments it can have inside a longer encoded stream (the part of
# the encoding that depends on the secret's bytes alone).  Prints
# "found NAME (FORM) in FILE" per hit and exits 1 when there was any, 0 when
# there was none.
use strict;
use warnings;
use MIME::Base64 qw(encode_base64);

my ($list, @files) = @ARGV;
die "usage: find_secrets.pl SECRETS FILE...\n" unless defined $list;

sub b64_cores {
    my ($raw) = @_;
    my @cores;
    for my $k (0 .. 2) {
        my $enc = encode_base64(("\0" x $k) . $raw, '');
        $enc =~ s/=+$//;
        my $skip = $k == 0 ? 0 : 4;    # the first group mixes in the prefix
        my $core = substr($enc, $skip, length($enc) - $skip - 4);
        push @cores, $core, ($core =~ tr{+/}{-_}r);
    }
    return @cores;
}

my @needles;
open(my $fh, '<', $list) or die "$list: $!\n";
while (my $line = <$fh>) {
    my ($name, $hex) = split ' ', $line;
    next unless defined $hex && $hex =~ /^[0-9a-f]{16,}$/;
    my $raw = pack('H*', $hex);
    push @needles, [$name, 'raw', $raw], [$name, 'hex', $hex], [$name, 'HEX', uc $hex];
    push @needles, [$name, 'base64', $_] for b64_cores($raw);
}
close $fh;
die "no secrets in $list\n" unless @needles;

my $hits = 0;
for my $file (@files) {
    next unless -f $file;
    open(my $in, '<:raw', $file) or next;
    local $/;
    my $data = <$in>;
    close $in;
    next unless defined $data;
    for my $n (@needles) {
        if (index($data, $n->[2]) >= 0) {
            print "found $n->[0] ($n->[1]) in $file\n";
            $hits++;
        }
    }
}
exit($hits ? 1 : 0);
