"""larfarm agent protocol v1: generated stubs (agent_pb2, agent_pb2_grpc) for agent.proto."""
