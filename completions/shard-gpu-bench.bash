# bash completion for shard-gpu-bench(1): options, their values, and the input.

_shard_gpu_bench()
{
	local cur prev
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	case $prev in
	-d|--device)
		COMPREPLY=($(compgen -W 'auto cpu cuda cuda:0 cuda:1 cuda:2 cuda:3' -- "$cur"))
		return ;;
	-c|--columns|-b|--batch|-n|--slots|-j|--threads|--corrupt)
		return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W '-d --device -c --columns -b --batch -n --slots -j --threads --drop-last --peak --json
			--no-verify --corrupt -q --quiet -h --help -V --version' -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -d -- "$cur") $(compgen -W '-' -- "$cur"))
}
complete -o filenames -F _shard_gpu_bench shard-gpu-bench
