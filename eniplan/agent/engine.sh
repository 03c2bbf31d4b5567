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

# 1. Read the state: two ip calls (only ip -6 lists IPv6 rules); stop if a list is missing
state=$(
  ip -N -6 -batch - 2>/dev/null <<EOF || echo '#no-ipv6'
rule show
route show default
EOF
  printf '#4\t\n'  # (a tab for $TAB: none in this text, for YAML's sake)
  ip -N -br -batch - <<EOF || echo '#failed'
rule show
route show table all proto $PROTO
link show
addr show
${GROUP:+link show group $GROUP}
EOF
)
state6=${state%%"#4"*}  # ${x#*y} is quadratic: short part first
state=${state#*"#4"}
TAB=${state%%"$NL"*}
case $state in *'#failed'*) state='' ;; esac
case $state in *" <"*) ;; *) warn "cannot read the state (ip -N -br -batch)" && exit 1 ;; esac
ipv6=1
case $state6 in *'#no-ipv6'* | '' | "$NL")
  ipv6='' state6=''
  [ -z "$PLAN_IPV6" ] || { warn "no IPv6 (ip -6 failed): its part is not applied" && status=1; }
  ;;
esac
words() {  # WORD...: via dev table src metric = the word after each
  via='' dev='' table='' src='' metric='' key=''
  for word; do
    case $key in via | dev | table | src | metric) eval "$key=\$word" ;; esac
    key=$word
  done
}
eni_of() {  # NAME[@PEER]: n = its ENI's number, or ''
  n=''
  case $links in *" ${1%%@*}="*) n=${links#*" ${1%%@*}="} n=${n%% *} ;; esac
}
link_line() {  # NAME[@PARENT] STATE MAC <FLAGS>
  case $# in [0-3]) return 0 ;; esac  # (ENI: the first with its MAC)
  case $MACS in *" $3="*) n=${MACS#*" $3="} n=${n%% *} ;; *) return 0 ;; esac
  case $4 in *[\<,]UP[,\>]*) up=1 ;; *) up=0 ;; esac
  eval "[ -n \"\${if_$n-}\" ] || if_$n=\${1%%@*} up_$n=\$up"
}
found_links() {  # map link names to ENIs
  links=' ' n=1
  while [ "$n" -le "$N" ]; do
    eval "eni=\$eni_$n mac=\$mac_$n name=\${if_$n-}"
    case $name in
    '' | *[!A-Za-z0-9_.-]*)
      warn "$eni (MAC $mac): ${name:-no link has this MAC}${name:+: unusable link name}" \
        "- not applied"
      eval "if_$n=''" && status=1
      ;;
    *) links="$links$name=$n " ;;
    esac
    n=$((n + 1))
  done
}
rule_line() {  # FAMILY PRIORITY: WORD...
  fam=$1 prio=${2%:}
  shift 2
  case " $* " in *" proto $PROTO "*) ;; *) return 0 ;; esac  # not eniplan's
  case $prio in '' | *[!0-9]*) return 0 ;; esac
  if [ $# -eq 6 ] && [ "$1 $3 $4 $5" = "from lookup $prio proto" ]; then
    eval "[ -n \"\${rules${fam}_$prio-}\" ] || seen$fam=\"\${seen$fam-} \$prio\""
    eval "rules${fam}_$prio=\"\${rules${fam}_$prio-} \$2\""
  elif [ "$prio $*" = "$GUARD_PRIO from all lookup 254 suppress_ifgroup $GROUP proto $PROTO" ]
  then
    eval "guard$fam=1"
  else  # eniplan's, odd
    eval "odd$fam=\"\${odd$fam-}\${NL}rule del priority \$prio \$*\""
  fi
}
section=rule
parse4() {  # LINE: rules, routes, links, addresses, group, in order
  IFS=" $TAB"
  case $1 in
  [0-9]*:"$TAB"*) rule_line 4 $1 ;;
  *" <"*)
    case $section in
    rule | route | link) section='link' && link_line $1 ;;
    *)
      section='group'
      eni_of "${1%% *}"
      if [ -n "$n" ]; then eval "group_$n=1"; else regroup="$regroup ${1%%[@ ]*}"; fi
      ;;
    esac
    ;;
  *)
    case $section in
    rule | route)  # (listed without proto)
      section='route'
      words $1
      case $table in '' | *[!0-9]*) return 0 ;; esac
      dst=${1%% *}
      [ "$dst" != default ] || case $via in *:*) dst=::/0 ;; *) dst=0.0.0.0/0 ;; esac
      case $tseen in *" $table "*) ;; *) tseen="$tseen$table " ;; esac
      eval "routes_$table=\"\${routes_$table-} \$dst,\$via,\$src,\$dev,\$metric\""
      ;;
    link | addr)  # NAME[@PEER] STATE ADDRESS/LEN...
      [ $section = addr ] || found_links
      section='addr'
      set -- $1
      eni_of "$1"
      [ -z "$n" ] || [ $# -lt 2 ] || { shift 2 && eval "have_$n=\" \$* \""; }
      ;;
    esac
    ;;
  esac
}
tseen=' ' regroup='' links='' guard4='' guard6='' skip=0
case $state in
*" proto $PROTO$NL"*)  # after a run, the plan's IPv4 rules are listed in one piece:
  block=$(  # then skip them, as read
    n=1
    while [ "$n" -le "$N" ]; do
      eval "t=\$table_$n s=\$rule4_$n"
      [ -z "$s" ] || printf "$t:\tfrom %s lookup $t proto $PROTO\n" $s
      n=$((n + 1))
    done
  )
  case $state in *"$NL$block$NL"*)  # (rules come first: the scans stop early)
    IFS=$NL
    for line in ${state%%"$NL$block$NL"*}; do skip=$((skip + 1)) && parse4 "$line"; done
    IFS=$NL
    set -- $block
    skip=$((skip + $#)) n=1
    while [ "$n" -le "$N" ]; do
      eval "t=\$table_$n"
      eval "rules4_$t=\" \$rule4_$n\" n=$((n + 1))"
    done
    ;;
  esac
  ;;
esac
IFS=$NL
set -- $state
shift "$skip"
for line; do parse4 "$line"; done
[ -n "$links" ] || found_links
read6() {  # TEXT: IPv6 rules; ENIs' default routers
  IFS=$NL
  for line in $1; do
    IFS=" $TAB"
    case $line in
    [0-9]*:"$TAB"*) rule_line 6 $line ;;
    *)
      words $line
      eni_of "$dev"
      [ -z "$n" ] || [ -z "$via" ] || eval "ra_$n=\${ra_$n:-\$via}"
      ;;
    esac
  done
  IFS=" $TAB$NL"
}
read6 "$state6"

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
add() {  # FORMAT WORD...: FORMAT for each word
  format=$1
  shift
  [ $# -eq 0 ] || printf "$format\n" "$@"
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
missing_addresses() {  # WANTED: miss = those not in $have
  miss=''
  case $have in *" $1 "*) return 0 ;; esac  # all there, in order
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
  [ -z "$GROUP" ] || add 'rule add from all lookup 254 %s' \
    "suppress_ifgroup $GROUP priority $GUARD_PRIO protocol $PROTO"
}
rules() {  # FAMILY: miss = ENI $n's to add
  eval "wanted=\$rule$1_$n current=\${rules$1_$table-}"
  compare "$wanted" "$current"
  rules_del "$table" $extra
}
rules_add() {  # SOURCE...
  [ -z "$name" ] || add "rule add from %s lookup $table priority $table protocol $PROTO" "$@"
}
changes6() {  # IPv6 rules (ip -6 -batch)
  dels='' added=0 n=1
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
    [ -z "$GROUP" ] || [ -n "$group" ] || add "link set dev %s group $GROUP" "$name"
    miss=$addresses4  # (any prefix length will do)
    case $have in *.*) missing_addresses "$addresses4" ;; esac
    add "addr replace %s dev $name" $miss
    if [ -n "$ipv6" ]; then
      missing_addresses "$addresses6"
      # nodad: the address is this ENI's alone (EC2); DAD would only delay its use
      add "addr replace %s dev $name nodad" $miss
    fi
    eni_routes
    rules_add $rules
    n=$((n + 1))
  done
  for table in $tseen; do  # tables of ENIs that the plan no longer has
    case $TABLES in *" $table "*) continue ;; esac
    eval "current=\$routes_$table"
    for entry in $current; do route_del "$entry"; done
  done
  stale_rules 4
  [ -n "$guard4" ] || add_guard
  for name in $regroup; do  # links of no ENI leave the guard group
    case $name in *[!A-Za-z0-9_.-]*) ;; *) del "link set dev $name group 0" ;; esac
  done
  flush
}
flush() {  # the deletions gathered, after all additions; the counts to fd 3
  [ -z "$dels" ] || printf '%s\n' "${dels#"$NL"}"
  IFS=$NL
  set -- $dels
  IFS=" $TAB$NL"
  echo "+$added -$#" >&3
}

# 4. Apply: the changes go straight into one ip -batch, and one ip -6 -batch for the IPv6
#    rules (ip takes a rule's family from -6 alone). ENIPLAN_DRY_RUN=1 prints them instead.
exec 4>&1
if [ -n "$DRY" ]; then
  counts=$({ [ -z "$ipv6" ] || { echo '# ip -6 -batch' && changes6; } && echo '# ip -batch' &&
    changes4; } 3>&1 >&4)
else
  counts=$(
    {
      [ -z "$ipv6" ] || changes6 | ip -6 -force -batch - >&4 || echo failed
      changes4 | ip -force -batch - >&4 || echo failed
    } 3>&1
  )
fi
added=0 removed=0 failed=''
for word in $counts; do
  case $word in
  +*) added=$((added + ${word#+})) ;;
  -*) removed=$((removed + ${word#-})) ;;
  *) failed=1 ;;
  esac
done
if [ -n "$failed" ]; then
  warn "not all of $added additions and $removed removals applied (see ip's errors)"
  exit 1
elif [ $((added + removed)) -eq 0 ]; then
  say "up to date, nothing changed"
elif [ -z "$DRY" ]; then
  say "$added added, $removed removed"
fi
exit "$status"
