# fish completion for shard-gpu-bench(1): options, their values, and the input.

complete -c shard-gpu-bench -s d -l device -x -a 'auto cpu cuda cuda:0 cuda:1 cuda:2 cuda:3' -d 'Where batches go'
complete -c shard-gpu-bench -s c -l columns -x -d 'Fixed-size columns to move'
complete -c shard-gpu-bench -s b -l batch -x -d 'Samples per batch'
complete -c shard-gpu-bench -s n -l slots -x -d 'Batches in flight'
complete -c shard-gpu-bench -s j -l threads -x -d 'Threads decompressing shards'
complete -c shard-gpu-bench -l drop-last -d 'Leave out a last, partial batch'
complete -c shard-gpu-bench -l peak -d "Also measure the device's peak copy bandwidth"
complete -c shard-gpu-bench -l json -d 'The report as one JSON object'
complete -c shard-gpu-bench -l no-verify -d 'Do not check shard hashes'
complete -c shard-gpu-bench -l corrupt -x -d 'Flip a bit of batch N (self-test)'
complete -c shard-gpu-bench -s q -l quiet -d 'No report'
complete -c shard-gpu-bench -s h -l help -d 'Show help'
complete -c shard-gpu-bench -s V -l version -d 'Show the version'
complete -c shard-gpu-bench -a '- (__fish_complete_directories)' -d 'dataset, or - for a stream'
