# --- the engine, the same for every plan (eval only makes names from numbers) ---
export LC_ALL=C
PATH=/usr/sbin:/sbin:/usr/bin:/bin${PATH:+:$PATH}
set -f
NL='
'
status=0 DRY=${ENIPLAN_DRY_RUN-}
say() { printf 'eniplan: %s: %s\n' "$INSTANCE" "$*"; }
warn() { say "$@" >&2; }
case ${ENIPLAN_RA_WAIT-} in '' | *[!0-9]*) ;; *) RA_WAIT=$ENIPLAN_RA_WAIT ;; esac
LOCK=${ENIPLAN_LOCK-/run/eniplan-routing.lock}  # '': the caller holds one

# 0. Parallel runs take turns: flock(1) where there is one, else a directory whose pid
#    file names the holder (a holder that died leaves a stale lock, taken over).
lock() {
  if command -v flock >/dev/null; then
    exec 9>>"$LOCK" && flock -w 120 9 && return 0
  else
    tries=0 empty=0
    until mkdir "$LOCK.d" 2>/dev/null; do
      holder=''
      { read -r holder <"$LOCK.d/pid"; } 2>/dev/null
      if [ -n "$holder" ]; then empty=0; else empty=$((empty + 1)); fi
      if { [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; } || [ "$empty" -gt 10 ]; then
        if mkdir "$LOCK.break" 2>/dev/null; then  # one waiter breaks it, if still stale
          again=''
          { read -r again <"$LOCK.d/pid"; } 2>/dev/null
          [ "$again" != "$holder" ] || rm -rf "$LOCK.d"
          rmdir "$LOCK.break"
          continue
        fi
      fi
      [ "$tries" -lt 120 ] || break
      sleep 1
      tries=$((tries + 1))
    done
    [ "$tries" -ge 120 ] || {
      echo $$ >"$LOCK.d/pid" && trap 'rm -rf "$LOCK.d"' EXIT && trap 'exit 1' HUP INT TERM
      return 0
    }
  fi
  warn "cannot take the lock $LOCK (another run holds it)" && exit 1
}
[ -n "$DRY" ] || [ -z "$LOCK" ] || lock

# 1. Read the state: two ip calls (only ip -6 lists IPv6 rules); stop if a list is missing.
#    (Which addresses eniplan added is read later, and only if one may have to go.)
#    (dash: ${x#*y} and ${x##*y} cost the square of the text they skip; ${x%%y*}, ${x%y*}
#    and case scans are linear: look-ups cut from the end, long texts are read apart)
#    (Each $(ip ...) is the one command of its subshell: sh runs ip there without a fork.)
state=$(
  ip -N -br -batch - <<EOF
rule show
route show table all proto $PROTO
link show
addr show
link show group $GROUP
EOF
) || state=''
# (a newline before the first rule too, as before the others)
case $state in *" <"*) state=$NL$state ;; *) warn "cannot read the state (ip -N -br -batch)" && exit 1 ;; esac
# a tab (none in this text, for YAML's sake): the first rule's ("PRIORITY:<tab>from"),
TAB=${state%%from*} TAB=${TAB#*:}  # or printf's
case $TAB in [[:blank:]]) ;; *) TAB=$(printf '\t') ;; esac
words() {  # WORD...: via dev table src metric = the word after each
  via='' dev='' table='' src='' metric='' key=''
  for word; do
    case $key in via | dev | table | src | metric) eval "$key=\$word" ;; esac
    key=$word
  done
}
eni_of() {  # NAME[@PEER]: n = its ENI's number, or ''
  n=''
  case $links in *"=${1%%@*} "*) n=${links%%"=${1%%@*} "*} n=${n##* } ;; esac
}
link_line() {  # NAME[@PARENT] STATE MAC <FLAGS>
  case $# in [0-3]) return 0 ;; esac  # (ENI: the first with its MAC)
  case $MACS in *"=$3 "*) n=${MACS%%"=$3 "*} n=${n##* } ;; *) return 0 ;; esac
  case $4 in *[\<,]UP[,\>]*) up=1 ;; *) up=0 ;; esac
  eval "[ -n \"\${if_$n-}\" ] || if_$n=\${1%%@*} up_$n=\$up"
}
found_links() {  # map link names to ENIs; with fewer than two here, route none
  links=' ' here=0 n=1
  while [ "$n" -le "$N" ]; do
    eval "name=\${if_$n-}"
    case $name in
    '' | *[!A-Za-z0-9_.-]*) eval "if_$n=''" ;;
    *) links="$links$n=$name " here=$((here + 1)) ;;
    esac
    n=$((n + 1))
  done
  [ "$here" -lt 2 ] && [ "$N" -ge 2 ] && tell=say || tell=warn
  n=1
  while [ "$n" -le "$N" ]; do
    eval "eni=\$eni_$n mac=\$mac_$n name=\${if_$n-}"
    [ -n "$name" ] || $tell "$eni (MAC $mac): no link has this MAC or its name is unusable"
    n=$((n + 1))
  done
  if [ "$tell" = say ]; then  # (the persisted script of an instance left with one ENI)
    say "$here of the plan's $N ENIs here: removing eniplan's state"
    N=0 TABLES=' ' links=' ' GUARD=''
    guard="from all lookup 254 suppress_ifgroup $GROUP proto $PROTO"
    [ -z "$guard4" ] || guard4='' odd4="${odd4-}${NL}rule del priority $GUARD_PRIO $guard"
  elif [ "$here" -lt "$N" ]; then
    status=1
  fi
}
rule_line() {  # FAMILY PRIORITY: WORD...
  fam=$1 prio=${2%:}
  shift 2
  case " $* " in *" proto $PROTO "*) ;; *) return 0 ;; esac  # not eniplan's
  case $prio in '' | *[!0-9]*) return 0 ;; esac
  if [ $# -eq 6 ] && [ "$1 $3 $4 $5" = "from lookup $prio proto" ]; then
    eval "[ -n \"\${rules${fam}_$prio-}\" ] || seen$fam=\"\${seen$fam-} \$prio\""
    eval "rules${fam}_$prio=\"\${rules${fam}_$prio-} \$2\""
  elif [ "$prio $*" = "$GUARD_PRIO from all lookup 254 suppress_ifgroup $GROUP proto $PROTO" ] &&
    eval "guarded=1 && [ -n \"\$GUARD\" ] && guard$fam=1"; then
    :
  else  # eniplan's, odd (the guard too, without one)
    eval "odd$fam=\"\${odd$fam-}\${NL}rule del priority \$prio \$*\""
  fi
}
section=rule
parse4() {  # $line: rules, routes, links, addresses, links in the group, in order
  IFS=" $TAB"
  case $line in
  [0-9]*:"$TAB"*) rule_line 4 $line ;;
  *" <"*)
    case $section in
    rule | route | link) section='link' && link_line $line ;;
    *)  # links in the group
      section='group'
      eni_of "${line%% *}"
      if [ -n "$n" ]; then eval "group_$n=1"; else regroup="$regroup ${line%%[@ ]*}"; fi
      ;;
    esac
    ;;
  *)
    case $section in
    rule | route)  # (listed without proto)
      section='route'
      words $line
      case $table in '' | *[!0-9]*) return 0 ;; esac
      dst=${line%% *}
      [ "$dst" != default ] || case $via in *:*) dst=::/0 ;; *) dst=0.0.0.0/0 ;; esac
      case $tseen in *" $table "*) ;; *) tseen="$tseen$table " ;; esac
      eval "routes_$table=\"\${routes_$table-} \$dst,\$via,\$src,\$dev,\$metric\""
      ;;
    link | addr)  # NAME[@PEER] STATE ADDRESS/LEN...
      [ $section = addr ] || found_links
      section='addr'
      set -- $line
      eni_of "$1"
      if [ -n "$n" ]; then
        [ $# -lt 2 ] || { shift 2 && eval "have_$n=\" \$* \""; }
      else  # (a lone link-local address is the kernel's: not looked at)
        case $#${3-} in [012] | 3fe[89ab]?:*) ;; *) others="$others$NL$*" ;; esac
      fi
      ;;
    esac
    ;;
  esac
}
tseen=' ' regroup='' links='' guard4='' guard6='' guarded='' skip=0 others=''
# FAMILY PARSER: after a run, the plan's rules of FAMILY are listed in one piece in $text
# (not an argument: sh would copy it): taken as read (PARSER reads the lines before);
# skip = the lines so read
planned_rules() {
  fam=$1 parser=$2 skip=0
  case $text in *" proto $PROTO$NL"*) ;; *) return 0 ;; esac
  block=$(
    n=1
    while [ "$n" -le "$N" ]; do
      eval "t=\$table_$n s=\$rule${fam}_$n"
      [ -z "$s" ] || printf "$t:\tfrom %s lookup $t proto $PROTO\n" $s
      n=$((n + 1))
    done
  )
  case $block in '') return 0 ;; esac
  before=${text%%"$NL$block$NL"*}  # (rules come first: the scan stops early; one scan)
  [ ${#before} -lt ${#text} ] || return 0  # (not there)
  IFS=$NL
  for line in $before; do skip=$((skip + 1)) && $parser; done
  IFS=" $TAB$NL"
  n=1
  while [ "$n" -le "$N" ]; do
    eval "t=\$table_$n && set -- \$rule${fam}_$n"
    [ $# -eq 0 ] || eval "rules${fam}_$t=\" \$*\" seen$fam=\"\${seen$fam-} \$t\""
    skip=$((skip + $#)) n=$((n + 1))
  done
}
text=$state
planned_rules 4 parse4
IFS=$NL
set -- $state
shift "$skip"
for line; do parse4; done
[ -n "$links" ] || found_links
# A first run (no IPv4 rule of eniplan's here, ENIs to route) adds the IPv6 guard in the
# call that reads the IPv6 state, after the read (ip stops at an error: then a read alone)
first=''
[ -n "$DRY${seen4-}" ] || [ "$links" = ' ' ] || first=1
try=${first:+$GUARD}
until state6=$(
  ip -N -6 -batch - 2>/dev/null <<EOF
rule show
route show default
${try:+rule add from all lookup 254 suppress_ifgroup $GROUP priority $GUARD_PRIO protocol $PROTO}
EOF
); do
  [ -n "$try" ] || { state6='#no-ipv6' && break; }
  try=''
done
ipv6=1
case $state6 in *'#no-ipv6'* | '' | "$NL")
  ipv6='' state6=''
  [ -z "$PLAN_IPV6" ] || { warn "no IPv6 (ip -6 failed): its part is not applied" && status=1; }
  ;;
esac
line6() {  # $line: an IPv6 rule, or an ENI's default router
  IFS=" $TAB"
  case $line in
  [0-9]*:"$TAB"*) rule_line 6 $line ;;
  *)
    words $line
    eni_of "$dev"
    [ -z "$n" ] || [ -z "$via" ] || eval "ra_$n=\${ra_$n:-\$via}"
    ;;
  esac
}
read6() {  # TEXT: IPv6 rules, default routes (the plan's rules taken in one piece if there)
  skip=0
  [ -z "$PLAN_IPV6" ] || { text=$1 && planned_rules 6 line6; }
  IFS=$NL
  set -- $1
  shift "$skip"
  for line; do line6; done
  IFS=" $TAB$NL"
}
read6 "$state6"
[ -z "$try" ] || guard6=1  # (added)

# 2. IPv6 default routes use the router of router advertisements (RA): wait a little
#    for ENIs that heard none yet (links up first), then go on without.
ra_pending() {
  pending='' n=1
  while [ "$n" -le "$N" ]; do
    eval "name=\${if_$n-} ra=\${ra_$n-} routes=\$route_$n"
    [ -z "$name" ] || [ -n "$ra" ] || case " $routes" in *,ra,*) pending="$pending $n" ;; esac
    n=$((n + 1))
  done
}
pending=''
[ -z "$ipv6" ] || ra_pending
for n in $pending; do
  eval "name=\$if_$n up=\$up_$n"
  [ "$up$DRY" != 0 ] || { ip link set dev "$name" up && eval "up_$n=1"; }
done
waited=0
# sleep: the one command besides ip, only here; without it, no wait
while [ -n "$pending" ] && [ "$waited" -lt "$RA_WAIT" ] && command -v sleep >/dev/null; do
  sleep 1
  waited=$((waited + 1))
  read6 "$(ip -N -6 route show default)"
  ra_pending
done
for n in $pending; do
  eval "eni=\$eni_$n name=\$if_$n"
  warn "$eni ($name): no router advertisement in ${waited}s: IPv6 default route later"
done

# 3. What changes: additions first, then eniplan's (protocol $PROTO) rules and routes
#    that the plan lacks are deleted.
add() {  # FORMAT WORD...: FORMAT for each word (counted only, in a probe)
  format=$1
  shift
  [ $# -eq 0 ] || [ -n "$probe" ] || printf "$format\n" "$@"
  added=$((added + $#))
}
del() { dels="$dels$NL$*"; }
compare() {  # WANTED HAVE: miss, extra
  miss=$1 extra=''
  [ -n "$2" ] || return 0  # none there
  miss=''
  [ " $1" != "$2" ] || return 0  # the same, in order
  for word in $1; do case "$2 " in *" $word "*) ;; *) miss="$miss $word" ;; esac; done
  for word in $2; do case " $1 " in *" $word "*) ;; *) extra="$extra $word" ;; esac; done
}
missing_addresses() {  # WANTED [BACKWARDS]: miss = those not in $have
  miss=''
  case $have in *" $1 "*) return 0 ;; esac  # all there, in order
  case ${2:+$have} in *" ${2-} "*) return 0 ;; esac  # or in the reverse order
  for word in $1; do case $have in *" ${word%/*}/"*) ;; *) miss="$miss $word" ;; esac; done
}
rules_del() {  # PRIORITY SOURCE...
  prio=$1
  shift
  for word; do del "rule del priority $prio from $word lookup $prio protocol $PROTO"; done
}
route_del() {  # DST,VIA,SRC,DEV,METRIC (table $table)
  IFS=,
  set -- $1
  IFS=" $TAB$NL"
  case ${4-} in *[!A-Za-z0-9_.-]*) set -- "$1" "$2" "$3" '' "${5-}" ;; esac
  del "route del $1 table $table proto $PROTO${2:+ via $2}${4:+ dev $4}${5:+ metric $5}"
}
stale_rules() {  # FAMILY: of no ENI's priority; odd
  eval "prios=\${seen$1-} odd=\${odd$1-}"
  for prio in $prios; do
    case $TABLES in *" $prio "*) ;; *) eval "rules_del $prio \$rules${1}_$prio" ;; esac
  done
  dels="$dels$odd"
}
eni_routes() {  # of ENI $n
  wanted=' ' replaced=' ' keep=''
  for entry in $routes; do
    dst=${entry%%,*} rest=${entry#*,}
    via=${rest%%,*} src=${rest#*,}
    case $dst in *:*) [ -n "$ipv6" ] || continue ;; esac
    if [ "$via" = ra ]; then
      [ -n "$ra" ] || { keep=$dst && continue; }  # no RA heard: keep the route there
      via=$ra
    fi
    wanted="$wanted$dst,$via,$src,$name "
    case "$current " in *" $dst,$via,$src,$name,"*) continue ;; esac
    replaced="$replaced$dst "
    add "route replace %s table $table proto $PROTO" \
      "$dst${via:+ via $via} dev $name${src:+ src $src}"
  done
  for entry in $current; do
    case $wanted in *" ${entry%,*} "*) continue ;; esac
    dst=${entry%%,*} metric=''
    [ "$dst" != "$keep" ] || continue
    case $dst in *:*) metric=1024 ;; esac
    case $replaced in *" $dst "*) [ "${entry##*,}" != "$metric" ] || continue ;; esac
    route_del "$entry"
  done
}
add_guard() {
  [ -z "$GUARD" ] || add 'rule add from all lookup 254 %s' \
    "suppress_ifgroup $GROUP priority $GUARD_PRIO protocol $PROTO"
}
rules() {  # FAMILY: miss = ENI $n's to add
  eval "wanted=\$rule$1_$n current=\${rules$1_$table-}"
  # (none there, or the same: done, with no copy of the long texts as arguments)
  case $current in '') miss=$wanted && return ;; " $wanted") miss='' && return ;; esac
  compare "$wanted" "$current"
  rules_del "$table" $extra
}
rules_add() {  # SOURCE...
  [ -z "$name" ] || add "rule add from %s lookup $table priority $table protocol $PROTO" "$@"
}
changes6() {  # IPv6 rules (ip -6 -batch)
  dels='' added=0 n=1
  [ -n "$PLAN_IPV6${seen6-}" ] || n=$((N + 1))  # (no ENI's IPv6 rule, here or planned)
  while [ "$n" -le "$N" ]; do
    eval "name=\${if_$n-} table=\$table_$n"
    rules 6
    rules_add $miss
    n=$((n + 1))
  done
  stale_rules 6
  [ -n "$guard6" ] || add_guard
  flush
}
changes4() {  # links, addresses, routes, IPv4 rules (ip -batch)
  dels='' added=0 n=1
  while [ "$n" -le "$N" ]; do
    eval "name=\${if_$n-} table=\$table_$n routes=\$route_$n addresses4=\$addr4_$n" \
      "addresses6=\$addr6_$n up=\${up_$n-} group=\${group_$n-} have=\${have_$n- }" \
      "ra=\${ra_$n-}"
    rules 4
    eval "current=\${routes_$table-}"
    if [ -z "$name" ]; then  # no link: its routes are stale
      for entry in $current; do route_del "$entry"; done
      n=$((n + 1))
      continue
    fi
    rules=$miss
    [ "$up" = 1 ] || add "link set dev %s up" "$name"
    if [ -n "$GUARD" ]; then
      [ -n "$group" ] || add "link set dev %s group $GROUP" "$name"
    elif [ -n "$group" ] && [ -n "$guarded" ]; then  # no guard now: out of its group
      del "link set dev $name group 0"
    fi
    # (the usual: the plan's IPv4 addresses there in order, then at most a link-local one:
    case $have in *.*)  # none to add or delete)
      case $addresses6$have in
      " $addresses4 "fe[89ab]?:*" "?*) ;;
      " $addresses4 " | " $addresses4 "fe[89ab]?:*) have='' ;;
      esac
    esac
    [ -z "$have" ] || {
      miss=$addresses4  # (any prefix length will do)
      case $have in *.*) missing_addresses "$addresses4" ;; esac
      label=" label $name:ep"  # eniplan's mark (15 characters at most)
      [ ${#name} -le 12 ] || label=''
      add "addr replace %s dev $name$label" $miss
      backwards=''  # (the kernel lists a link's IPv6 addresses newest first)
      for word in $addresses6; do backwards="$word${backwards:+ $backwards}"; done
      if [ -n "$ipv6" ] && [ -n "$addresses6" ]; then
        missing_addresses "$addresses6" "$backwards"
        # nodad (eniplan's mark): the address is this ENI's alone (EC2); DAD would only delay
        add "addr replace %s dev $name nodad" $miss
      fi
      planned='' rest=$have
      case $rest in *.*) outside "$addresses4" ;; esac
      outside "$addresses6"
      outside "$backwards"
      stale_addresses "$name" $rest
    }
    eni_routes
    rules_add $rules
    n=$((n + 1))
  done
  for table in $tseen; do  # tables of ENIs that the plan no longer has
    case $TABLES in *" $table "*) continue ;; esac
    eval "current=\$routes_$table"
    for entry in $current; do route_del "$entry"; done
  done
  IFS=$NL
  planned=' ' ruled=' '
  for line in $others; do  # links of no ENI here
    IFS=" $TAB$NL"
    set -- $line
    name=${1%%@*}
    shift 2
    stale_addresses "$name" "$@"
  done
  IFS=" $TAB$NL"
  stale_rules 4
  [ -n "$guard4" ] || add_guard
  [ -z "$guarded" ] || for name in $regroup; do  # links of no ENI leave eniplan's group
    case $name in lo | *[!A-Za-z0-9_.-]*) ;; *) del "link set dev $name group 0" ;; esac
  done
  flush
}
# RUN: $rest without the run " RUN " if it is there (its words are planned: no need to
# look at each one)
outside() {
  [ -n "$1" ] || return 0
  before=${rest%%" $1 "*}
  [ ${#before} -lt ${#rest} ] || return 0
  set -- $1
  cut=$#
  set -- $before
  cut=$((cut + $#)) before=$*
  set -- $rest
  shift "$cut"
  rest=" $before $* "
}
stale_addresses() {  # LINK ADDRESS/LEN...: those eniplan added (its rule, its mark) and
  link=$1 gone=''  # the plan lacks there (not in $planned or $ruled, at any prefix length;
  # '': ENI $n's, worked out here)
  shift  # go, the last first (a link's first IPv4 address in a subnet takes the later ones)
  for word; do  # (link-local ones are the kernel's: no scan of the long lists for them)
    case $word in fe[89ab]?:*) continue ;; esac
    [ -n "$planned" ] || eval "planned=\" \$addresses4 \$addresses6 \" ruled=\" \$rule4_$n \$rule6_$n \""
    case $planned$ruled in *" ${word%/*}/"* | *" ${word%/*} "*) continue ;; esac
    [ -n "$sources" ] || for prio in ${seen4-} ${seen6-}; do
      eval "sources=\"\$sources \${rules4_$prio-} \${rules6_$prio-} \""
    done
    case $sources in *" ${word%/*} "*) [ -n "$marks" ] || read_marks ;; *) continue ;; esac
    case $marks in *" $word "* | *"$NL$word "*) gone="addr del $word dev $link${gone:+$NL$gone}" ;; esac
  done
  [ -z "$gone" ] || del "$gone"
}
read_marks() {  # the addresses eniplan added, by their marks: IPv4 labelled NAME:ep (ip
  marks=$NL$(  # lists them alone, a line a link), IPv6 nodad; each ends in a blank
    ip -br -batch - <<EOF || warn "cannot read eniplan's addresses"
addr show label *:ep
addr show nodad
EOF
  )
}
flush() {  # the deletions gathered, after all additions; then the counts (on fd 3; in a
  [ -z "$dels" ] || [ -n "$probe" ] || printf '%s\n' "${dels#"$NL"}"  # probe, summed)
  IFS=$NL
  set -- $dels
  IFS=" $TAB$NL"
  if [ -n "$probe" ]; then changes=$((changes + added + $#)); else echo "#+$added -$#" >&3; fi
}

# 4. Apply: the changes go into one ip -batch, and one ip -6 -batch for the IPv6 rules
#    (ip takes a rule's family from -6 alone); no ip at all when there are none.
#    ENIPLAN_DRY_RUN=1 prints them instead. A first run (no IPv4 rule of eniplan's here,
#    ENIs to route) streams the rest into ip -batch while it works them out.
sources='' marks='' probe=1 changes=0 v6=$ipv6 batches=''
[ -z "$ipv6" ] || changes6  # (a probe in this shell first: no subshell for what needs none)
[ -n "$DRY" ] || [ "$changes" != 0 ] || v6=''  # (no IPv6 change: no ip -6)
if [ -z "$first$DRY" ]; then
  changes4
  [ "$changes" != 0 ] || { say "up to date, nothing changed" && exit "$status"; }
fi
probe=''
# one subshell (none for a first run with no IPv6 change): the IPv6 rules' changes and
# counts, then the rest's
[ -z "$v6" ] && [ -n "$first" ] ||
  batches=$({ [ -z "$v6" ] || changes6; [ -n "$first" ] || changes4; } 3>&1)
added=$((${try:+1}+0)) removed=0 failed=''  # (the IPv6 guard, if added above)
apply() {  # OPTION COUNTS: $batch applied (printed if dry), counted
  set -- "$1" ${2#+}
  added=$((added + $2)) removed=$((removed + ${3#-}))
  if [ -n "$DRY" ]; then
    printf '# ip %s-batch\n%s' "${1:+$1 }" "$batch"
  elif [ $(($2 + ${3#-})) -gt 0 ]; then
    ip $1 -force -batch - <<EOF || failed=1
$batch
EOF
  fi
}
IFS='#'  # (each # starts counts: [BATCH6 #COUNTS6 NL] BATCH #COUNTS; splitting is linear)
set -- $batches
IFS=" $TAB$NL"
# (a batch goes to ip in a here-document: as an argument, sh would copy it twice more)
batch=${1-}
[ -z "$v6" ] || { apply -6 "${2%%"$NL"*}"; batch=${2#*"$NL"}; shift; }
if [ -z "$first" ]; then
  apply '' "$2"
else  # (the counts come back on fd 3, then 'failed' if ip failed)
  { counts=$({ changes4 | ip -force -batch - >&4 || echo failed; } 3>&1); } 4>&1
  set -- $counts
  case $# in 2 | 3) added=$((added + ${1#*+})) removed=$((removed + ${2#-})) ;; esac
  [ $# -eq 2 ] || failed=1
fi
if [ -n "$failed" ]; then
  warn "not all of $added additions and $removed removals applied (see ip's errors)"
  exit 1
elif [ $((added + removed)) -eq 0 ]; then
  say "up to date, nothing changed"
elif [ -z "$DRY" ]; then
  say "$added added, $removed removed"
fi
exit "$status"
