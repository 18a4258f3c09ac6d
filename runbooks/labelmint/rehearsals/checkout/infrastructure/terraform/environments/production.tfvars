# Rehearsal placeholder for the design's production variables (terraform does not run here).
region             = "us-east-1"
cluster_name       = "labelmint-production"
vpc_cidr           = "10.0.0.0/16"
db_instance_class  = "db.t4g.micro"
redis_node_type    = "cache.t3.micro"
node_min_size      = 2
node_max_size      = 4
