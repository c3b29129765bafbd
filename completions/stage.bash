# bash completion for stage, cv_example and make_pets.
# Options are read from each program's own --help, so they never fall out of step with it;
# values are completed where their kind is known (directories, files, fixed choices).

# Prints the long and short options that `$@ --help` lists.
_stage_options() {
  "$@" --help 2>/dev/null | grep -oE '(^|[[:space:]])(--[A-Za-z0-9][A-Za-z0-9_-]*|-[A-Za-z])' |
    tr -d ' \t' | sort -u
}

_stage_complete() {
  local cur prev words cword
  if declare -F _init_completion >/dev/null; then
    _init_completion -s || return
  else
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  fi
  local program=${words[0]} command=()
  if [[ $program == stage || $program == */stage ]]; then
    local i
    for ((i = 1; i < cword; i++)); do
      case ${words[i]} in
        pack | clean | fetch) command=("${words[i]}"); break ;;
      esac
    done
  fi

  case $prev in
    --from | --to | --data_dir | --data-dir | --output_dir | --output-dir | --out | \
      --dump_batches | --dump-batches)
      # A directory, or a file for those that also take one (an archive, the packed output).
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur"))
      return
      ;;
    --weights | --archive | --ca-file | --predictions_out | --predictions-out | \
      --resume_from_checkpoint | --resume-from-checkpoint)
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -- "$cur"))
      return
      ;;
    --reads) COMPREPLY=($(compgen -W "auto mapped io_uring plain" -- "$cur")); return ;;
    --mixed_precision | --mixed-precision) COMPREPLY=($(compgen -W "no bf16 fp16" -- "$cur")); return ;;
    --preload) COMPREPLY=($(compgen -W "auto on off" -- "$cur")); return ;;
    --dist_backend | --dist-backend) COMPREPLY=($(compgen -W "gloo nccl" -- "$cur")); return ;;
    --checkpointing_steps | --checkpointing-steps) COMPREPLY=($(compgen -W "epoch" -- "$cur")); return ;;
    --model)
      COMPREPLY=($(compgen -W "resnet50d resnet50 resnet34 resnet26d resnet18d resnet18 resnet10t" \
        -- "$cur"))
      return
      ;;
  esac

  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_stage_options "$program" "${command[@]}")" -- "$cur"))
  elif [[ $program == stage || $program == */stage ]] && ((${#command[@]} == 0)) && ((cword == 1)); then
    COMPREPLY=($(compgen -W "pack clean fetch" -- "$cur"))
  fi
}

complete -F _stage_complete stage cv_example make_pets
